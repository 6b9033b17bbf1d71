using Qwen3Gen.Distributed;
using Qwen3Gen.Models;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// One rank of a tensor-parallel model (<see cref="TensorParallelModel{S, W}"/>); made by <see cref="TensorParallelModels.Load"/>.
/// Every call is collective: all ranks of <see cref="Comm"/> make the same calls with the same tokens, in the same order.
/// </summary>
public interface ITensorParallelModel : IDisposable
{
    ICommunicator Comm { get; }

    /// <summary>What this rank holds: its heads, FFN columns, experts and vocabulary rows.</summary>
    TensorSplit Split { get; }

    ModelConfig Config { get; }

    /// <summary>This rank's weights (its slice only).</summary>
    Weights Weights { get; }

    /// <summary>Bytes of this rank's work buffers and KV cache of the last Forward.</summary>
    long WorkBufferBytes { get; }

    /// <summary>Time this rank waited in all-reduces so far.</summary>
    TimeSpan CommunicationTime { get; }

    /// <summary>
    /// Forward pass over <paramref name="batch"/> × <paramref name="seqLen"/> tokens from position 0; returns the mean
    /// cross-entropy over the non-ignored targets (NaN without targets), the same on every rank; for a MoE model with
    /// output_router_logits, plus router_aux_loss_coef · the load-balancing loss, as the one-process model returns.
    /// </summary>
    float Forward(ReadOnlySpan<int> ids, ReadOnlySpan<int> targets, int batch, int seqLen);

    /// <summary>This rank's part of every logits row of the last Forward: [batch · seqLen, Split.VocabCount].</summary>
    ReadOnlySpan<float> LocalLogits { get; }

    /// <summary>A KV-cached decoding session of one sequence (the rank's K/V heads only).</summary>
    ITensorParallelSession CreateSession(int capacity, int chunk = 128);
}

/// <summary>
/// KV-cached decoding of one sequence on one rank, driven in step on every rank. Prefill and Decode (of
/// <see cref="IInferenceSession"/>) return this rank's part of the last position's logits (token ids [VocabStart, VocabStart + VocabCount)); pick the next token with a
/// <see cref="Sampling.ShardedSampler"/> over the same communicator.
/// </summary>
public interface ITensorParallelSession : IInferenceSession
{
    /// <summary>The token id of this rank's first logit.</summary>
    int VocabStart { get; }

    /// <summary>How many logits this rank's Prefill and Decode return.</summary>
    int VocabCount { get; }

    ICommunicator Comm { get; }
}
