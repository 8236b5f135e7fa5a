//! The DCGAN's fully connected layers on burn's Flex backend, as one autodiff op.
//!
//! burn computes `x W + b` as a product then a separate (single-threaded) broadcast add, and
//! its backward pass multiplies by transposed copies; here the bias is the product's
//! starting value and both gradients read the saved operands through transposed strides.

use crate::flex::{AdTensor, channel_sums, dense, finish, matmul, matmul_add, plain, tensor, tracked, trans, vals};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn_flex::{Flex, FlexTensor};

/// What the backward pass keeps: the input (for the weight gradient) and the weight (for
/// the input gradient), each only when that gradient is wanted.
#[derive(Clone, Debug)]
struct State {
    rows: usize,
    d_in: usize,
    d_out: usize,
    x: Option<FlexTensor>,
    weight: Option<FlexTensor>,
}

#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let s = ops.state;
        let dy = dense(grads.consume::<Flex>(&ops.node));
        let dy = vals(&dy);
        if let Some(node) = node_x {
            let w = vals(s.weight.as_ref().expect("weight kept for the input gradient"));
            let dx = matmul(s.rows, s.d_out, s.d_in, plain(dy), trans(w));
            grads.register::<Flex>(node.id, tensor(dx, vec![s.rows, s.d_in]));
        }
        if let Some(node) = node_w {
            let x = vals(s.x.as_ref().expect("input kept for the weight gradient"));
            let dw = matmul(s.d_in, s.rows, s.d_out, trans(x), plain(dy));
            grads.register::<Flex>(node.id, tensor(dw, vec![s.d_in, s.d_out]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(channel_sums(dy, s.rows, s.d_out, 1), vec![s.d_out]));
        }
    }
}

/// `x [rows, d_in] * weight [d_in, d_out] + bias [d_out]` (burn's `Linear` layout).
pub fn linear(x: AdTensor, weight: AdTensor, bias: AdTensor) -> AdTensor {
    let (rows, d_in) = {
        let s = x.primitive.layout().shape();
        (s[0], s[1])
    };
    let d_out = weight.primitive.layout().shape()[1];
    let (xt, wt, bt) = (
        dense(x.primitive.clone()),
        dense(weight.primitive.clone()),
        dense(bias.primitive.clone()),
    );
    let b = vals(&bt);
    let mut y = Vec::with_capacity(rows * d_out);
    for _ in 0..rows {
        y.extend_from_slice(b);
    }
    matmul_add(&mut y, rows, d_in, d_out, plain(vals(&xt)), plain(vals(&wt)));
    let y = tensor(y, vec![rows, d_out]);
    let (need_w, need_x) = (tracked(&weight), tracked(&x));
    let state = move || State {
        rows,
        d_in,
        d_out,
        x: need_w.then_some(xt),
        weight: need_x.then_some(wt),
    };
    finish(LinearBackward, [&x, &weight, &bias], state, y)
}
