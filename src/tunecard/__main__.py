import sys

from tunecard.cli import main

sys.exit(main())
