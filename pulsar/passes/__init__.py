"""Graph rewrites between analysis and planning: `optimise.optimise` runs them in order.

Each pass maps an analysed graph to a new graph with the same outputs, fewer or cheaper nodes.
  optimise.py             the order, and the clean-ups (constants, identities, dead nodes)
  branch_folding.py       an `If` on a known condition becomes its branch
  tf_gru_cell.py          TensorFlow's spelled-out GRU cell in a loop body becomes one node
  scan_to_gru.py          a Scan over one TensorFlow GRU cell becomes one GRU node
  conv_fusion.py          BatchNorm folded into its producer, activations into the conv kernel
  layernorm_fusion.py     spelled-out layer normalisation becomes one node
  elementwise_fusion.py   trees of elementwise nodes become one generated kernel
"""
