from kqjax.cli import main

main()
