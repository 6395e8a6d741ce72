from nndsl.cli import main

raise SystemExit(main())
