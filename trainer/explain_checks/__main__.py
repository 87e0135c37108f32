"""``python -m trainer.explain_checks``."""
import sys

from trainer.explain_checks.cli import main

sys.exit(main())
