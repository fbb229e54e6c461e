from v6ops.cli.main import main

main()
