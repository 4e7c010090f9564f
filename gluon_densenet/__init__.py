"""gluon-densenet: DenseNet in MXNet Gluon, built up chapter by chapter."""
__version__ = "0.1.0"
