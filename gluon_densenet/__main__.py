import sys

from gluon_densenet.cli import main

sys.exit(main())
