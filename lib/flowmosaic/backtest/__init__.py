"""Driver-side backtest (pandas only): the reference quintile backtest and factor analytics."""
