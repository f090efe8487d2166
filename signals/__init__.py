"""Signal maths as pure functions on pandas/numpy data: no Backtrader, testable on their own."""
