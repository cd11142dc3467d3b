from opentrail.cli import main

main()
