import gluon_densenet  # noqa: F401  first: MXNet then uses one thread per core (cpu_threads)
