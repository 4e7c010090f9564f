"""Answers to the chapters' questions, measured: where memory, parameters and computation go,
how nets compare under one time budget, whether a difference over seeds is real, what a
trained DenseNet's layers read.

- :mod:`.memory`: activation bytes counted from the graph, peak memory measured in a fresh process;
- :mod:`.parameters`: learnable parameters per stage;
- :mod:`.budget`: training under a fixed wall-time budget;
- :mod:`.stats`: mean ± standard deviation and Welch's t test over seeds;
- :mod:`.measure`: the timing loop and the peak-memory reading shared with ``benchmarks/``;
- :mod:`.feature_reuse`: the paper's Figure 5 from a DenseNet's weights, and its observations;
- :mod:`.gradient_flow`: the gradient reaching each layer, and a DenseNet's plain counterpart;
- :mod:`.flops`: multiply-adds per image of the convolutions and fully connected layers.

Nothing is imported here: :mod:`.measure` stays free of MXNet, so a benchmark's torch worker
can use it without loading MXNet into the process whose memory it measures.
"""
