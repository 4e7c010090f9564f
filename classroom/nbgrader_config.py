# nbgrader's configuration for the gluon-densenet classroom course (copied into
# dist/teacher by `make student`; run nbgrader commands from that directory).
c = get_config()  # noqa: F821 (nbgrader provides get_config when it loads this file)
c.CourseDirectory.course_id = "gluon-densenet"
# Chapter 3 trains for about 7 minutes in one cell in a full run; nbgrader's default
# is 30 s per cell.
c.Execute.timeout = 1800
