complete --keep-order --exclusive --command oncall --arguments "(COMPLETE=fish oncall -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
