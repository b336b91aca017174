from codekiln.pipelines.cli.main import main

raise SystemExit(main())
