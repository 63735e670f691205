from tsft.cli import main

main()
