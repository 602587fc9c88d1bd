from tvstream.cli.main import main

main()
