"""The classroom edition: nbgrader hand-outs without answers, and their grading check."""
