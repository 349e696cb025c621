"""The self-test: the catalogue of planted faults (`faultlist`), the patches that plant them (`faults`), the run that
checks each is detected and localised (`run`) and the planted pytest runs of the oracle tests (`plantedtests`,
`plantedfork`)."""
