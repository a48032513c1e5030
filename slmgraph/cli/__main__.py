from slmgraph.cli import main

raise SystemExit(main())
