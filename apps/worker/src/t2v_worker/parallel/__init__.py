"""One job across several devices: a worker group of ranks behind one stdio worker (rank 0).

``spec`` parses ``T2V_PARALLEL``; ``group`` starts and supervises the other ranks from rank 0;
``runtime`` makes a loaded engine run its jobs across the group; ``rank`` is the entry point of
ranks 1..N-1.
"""
