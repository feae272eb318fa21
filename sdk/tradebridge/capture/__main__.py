from tradebridge.capture.cli import main

raise SystemExit(main())
