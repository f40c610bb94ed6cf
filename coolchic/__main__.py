import sys

from coolchic.cli.main import main

sys.exit(main())
