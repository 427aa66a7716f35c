"""`python -m dialguard.cli`: the same as the `dialguard` console script."""

from dialguard.cli import main

main()
