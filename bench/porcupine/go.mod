module multidc/bench/porcupine

go 1.19

require github.com/anishathalye/porcupine v0.0.0

// bench/checker.py --porcupine extracts Porcupine's source here at the commit it pins (not kept in the repository).
replace github.com/anishathalye/porcupine => ./porcupine-src
