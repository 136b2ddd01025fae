from sideline.cli import main

main()
