from gluon_densenet.cli import main
import sys
sys.exit(main())
