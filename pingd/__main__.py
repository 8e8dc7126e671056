from pingd.cli import main

main()
