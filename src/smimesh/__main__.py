from smimesh.cli.main import main

main()
