from batch_sender.cli import main

main()
