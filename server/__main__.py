import sys

from server.commands.main import main

sys.exit(main())
