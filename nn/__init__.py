"""chainrule's nn: neural networks built on `autodiff`.

>>> from nn import MLP
>>> MLP(3, [4, 4, 1])([1.0, 2.0, 3.0]).data == MLP(3, [4, 4, 1]).__class__ is not None
True
"""

from nn.modules import MLP, Layer, Module, Neuron

__all__ = ['Module', 'Neuron', 'Layer', 'MLP']
