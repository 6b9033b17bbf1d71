namespace Qwen3Gen.Models;

/// <summary>
/// Told by the generated <see cref="IQwen3Model.Backward"/> when a part of the gradient is final, in the order the
/// backward pass finishes them: the head (model.norm.weight and an untied lm_head.weight), then decoder layers from
/// last to first (every model.layers.{l}.* tensor), then the embedding (with a tied LM head, its gradient too).
/// Data-parallel training starts reducing each part here while the backward pass goes on (PyTorch DDP's buckets,
/// llm.c's per-layer reduction). The calls must not change the gradients of parts not yet final.
/// </summary>
public interface IBackwardHook
{
    void HeadDone();

    void LayerDone(int layer);

    void EmbeddingDone();
}
