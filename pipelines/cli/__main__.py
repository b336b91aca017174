from codekiln.pipelines.cli.main import main

main()
