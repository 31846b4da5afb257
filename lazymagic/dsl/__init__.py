"""The %%lazynet language: ``parser`` reads a cell body, ``build`` declares the net."""
