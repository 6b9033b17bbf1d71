using System.Diagnostics;
using System.Numerics.Tensors;

namespace Qwen3Gen.Distributed;

/// <summary>
/// Sums the gradients of all ranks, bucket by bucket, while the backward pass is still running: as the generated
/// backward reports a part final (<see cref="IBackwardHook"/>), that part's all-reduce is started (MPI_Iallreduce)
/// and the backward goes on with the next layer; <see cref="Finish"/> waits for what is still in flight. This is
/// PyTorch DDP's bucketing with one bucket per layer, the granularity llm.c uses.
/// <para>
/// Local accumulation first: with several micro-batches per rank, the earlier micro-batches' sum sits in an
/// accumulation buffer, and each part is completed as g ← acc + g just before its reduction starts, so a rank
/// contributes Σ of its micro-batches in micro-batch order, exactly as the single-process trainer accumulates.
/// </para>
/// </summary>
public sealed unsafe class GradientReducer : IBackwardHook
{
    private readonly ICommunicator _comm;
    private readonly GradientBucket[] _buckets;
    private readonly CommRequest[] _requests;
    private readonly int _layers;
    private float* _gradients, _accumulated;
    private int _started;
    private bool _armed;

    public GradientReducer(ICommunicator comm, IQwen3Model model)
    {
        _comm = comm;
        _layers = model.Config.Layers;
        _buckets = GradientBucket.ForModel(model.Tensors, _layers);
        _requests = new CommRequest[_buckets.Length];
    }

    /// <summary>The buckets in the order they are started.</summary>
    public IReadOnlyList<GradientBucket> Buckets => _buckets;

    /// <summary>
    /// Arms the reducer for the next backward pass (the last micro-batch of a step): each part of
    /// <paramref name="gradients"/> is completed with <paramref name="accumulated"/> (null: nothing to add) and its
    /// reduction started when the backward reports it final.
    /// </summary>
    public void Arm(float* gradients, float* accumulated)
    {
        _gradients = gradients;
        _accumulated = accumulated;
        _started = 0;
        _armed = true;
    }

    public void HeadDone() => StartNext();

    public void LayerDone(int layer) => StartNext();

    public void EmbeddingDone() => StartNext();

    /// <summary>Starts every bucket not yet started (a backward without the hook), then waits for all; returns the time spent waiting.</summary>
    public TimeSpan Finish()
    {
        if (!_armed) throw new InvalidOperationException("Finish needs Arm first.");
        while (_started < _buckets.Length) StartNext();
        long start = Stopwatch.GetTimestamp();
        for (int b = 0; b < _buckets.Length; b++) _comm.Wait(_requests[b], $"the gradient all-reduce of bucket '{_buckets[b].Name}'");
        _armed = false;
        return Stopwatch.GetElapsedTime(start);
    }

    private void StartNext()
    {
        if (!_armed) return;                                       // an earlier micro-batch: its gradients are not final
        if (_started == _buckets.Length) throw new InvalidOperationException("The backward pass reported more parts than the model has buckets.");
        var bucket = _buckets[_started];
        int first = -1, count = 0;
        foreach (var range in bucket.Ranges)
        {
            float* g = _gradients + range.Offset;
            if (_accumulated != null) Add(g, _accumulated + range.Offset, range.Length);
            if (_comm.Size == 1) continue;
            var request = _comm.StartAllReduceSum(g, range.Length);
            if (first < 0) first = request.First;
            count += request.Count;
        }
        _requests[_started++] = new CommRequest(Math.Max(first, 0), count);
        _comm.Progress();                                          // MPI advances earlier buckets only inside MPI calls
    }

    /// <summary>g ← acc + g (IEEE addition is commutative: the same bits as acc + g in the single-process accumulation).</summary>
    private static void Add(float* g, float* acc, long length)
    {
        for (long s = 0; s < length; s += int.MaxValue / 2)
        {
            int n = (int)Math.Min(int.MaxValue / 2, length - s);
            var span = new Span<float>(g + s, n);
            TensorPrimitives.Add(new ReadOnlySpan<float>(acc + s, n), span, span);
        }
    }
}
