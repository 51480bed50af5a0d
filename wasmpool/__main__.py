import sys

from wasmpool.cli import main

sys.exit(main(sys.argv[1:]))
