using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Qwen3Gen.Models;

namespace Qwen3Gen.Distributed;

/// <summary>
/// Sums the gradients of all ranks, bucket by bucket, while the backward pass is still running: as the generated
/// backward reports a part final (<see cref="IBackwardHook"/>), that part's reduction is started and the backward goes
/// on with the next layer; <see cref="Finish"/> waits for what is still in flight. This is PyTorch DDP's bucketing with
/// one bucket per layer, the granularity llm.c uses.
/// <para>
/// Local accumulation first: with several micro-batches per rank, the earlier micro-batches' sum sits in an
/// accumulation buffer, and each part is completed as g ← acc + g just before its reduction starts, so a rank
/// contributes the sum of its micro-batches in micro-batch order, exactly as the single-process trainer accumulates.
/// </para>
/// <para>
/// The reduction order is defined so that N ranks equal one process accumulating the same N micro-batches:
/// for N ≤ 2 an MPI all-reduce (each element is at most one addition g₀ + g₁, the same bits in any order); for
/// N &gt; 2 an ordered reduction: each range is cut into N blocks, an all-to-all (MPI_Ialltoallv) brings block r of every
/// rank to rank r, which adds them in rank order ((g₀ + g₁) + g₂) + … — the single process's order — and an in-place
/// all-gather (MPI_Iallgatherv) returns the summed blocks to every rank. It moves the same bytes as a ring all-reduce,
/// 2(N−1)/N of the range per rank, and needs a scratch buffer as large as the gradients.
/// </para>
/// </summary>
public sealed unsafe class GradientReducer : IBackwardHook, IDisposable
{
    private readonly ICommunicator _comm;
    private readonly GradientBucket[] _buckets;
    private readonly Plan[][] _plans;              // per bucket, per range
    private readonly bool _ordered;
    private readonly void* _native;                // counts, offsets and scratch of the ordered reduction
    private float* _gradients, _accumulated;
    private int _started;
    private bool _armed;

    public GradientReducer(ICommunicator comm, IQwen3Model model)
    {
        _comm = comm;
        _buckets = GradientBucket.ForModel(model.Tensors, model.Config.Layers);
        _ordered = comm.Size > 2;
        int n = comm.Size, rank = comm.Rank;
        _plans = _buckets.Select(b => b.Ranges.Select(r => new Plan { Offset = r.Offset, Length = r.Length }).ToArray()).ToArray();
        if (!_ordered) return;

        // One native block: six int arrays of N per range, then each range's scratch (N blocks of its largest block).
        long ints = 0, floats = 0;
        foreach (var plan in _plans.SelectMany(p => p))
        {
            if (plan.Length > int.MaxValue) throw new ArgumentException($"A gradient range of {plan.Length} floats exceeds MPI's int counts.");
            ints += 6L * n;
            floats += n * ((plan.Length + n - 1) / n);
        }
        long intBytes = (ints * 4 + 63) / 64 * 64;
        _native = NativeMemory.AlignedAlloc((nuint)(intBytes + floats * 4), 64);
        int* next = (int*)_native;
        float* scratch = (float*)((byte*)_native + intBytes);
        foreach (var plans in _plans)
            for (int i = 0; i < plans.Length; i++)
            {
                ref var p = ref plans[i];
                long length = p.Length;
                int block = (int)((length + n - 1) / n);
                p.SendCounts = next; p.SendOffsets = next + n; p.ReceiveCounts = next + 2 * n; p.ReceiveOffsets = next + 3 * n;
                p.GatherCounts = next + 4 * n; p.GatherOffsets = next + 5 * n;
                next += 6 * n;
                for (int k = 0; k < n; k++)
                {
                    int start = (int)(length * k / n), end = (int)(length * (k + 1) / n);
                    p.SendCounts[k] = p.GatherCounts[k] = end - start;        // block k of the range goes to rank k
                    p.SendOffsets[k] = p.GatherOffsets[k] = start;
                }
                p.BlockStart = p.SendOffsets[rank];
                p.BlockLength = p.SendCounts[rank];
                for (int j = 0; j < n; j++)
                {
                    p.ReceiveCounts[j] = p.BlockLength;                        // rank j's copy of this rank's block
                    p.ReceiveOffsets[j] = j * block;
                }
                p.Scratch = scratch;
                p.ScratchStride = block;
                scratch += (long)n * block;
            }
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
        if (_ordered) GatherBucket(_buckets.Length - 1);
        for (int b = 0; b < _buckets.Length; b++)
            for (int i = 0; i < _plans[b].Length; i++)
            {
                ref var p = ref _plans[b][i];
                if (p.Stage != Stage.Done) _comm.Wait(p.Request, $"the gradient all-reduce of bucket '{_buckets[b].Name}'");
                p.Stage = Stage.Idle;
            }
        _armed = false;
        return Stopwatch.GetElapsedTime(start);
    }

    public void Dispose()
    {
        if (_native != null) NativeMemory.AlignedFree(_native);
    }

    private void StartNext()
    {
        if (!_armed) return;                                       // an earlier micro-batch: its gradients are not final
        if (_started == _buckets.Length) throw new InvalidOperationException("The backward pass reported more parts than the model has buckets.");
        var plans = _plans[_started++];
        for (int i = 0; i < plans.Length; i++)
        {
            ref var p = ref plans[i];
            float* g = _gradients + p.Offset;
            if (_accumulated != null) Add(g, _accumulated + p.Offset, p.Length);
            if (_comm.Size == 1) { p.Stage = Stage.Done; continue; }
            if (_ordered)
            {
                p.Request = _comm.StartAllToAll(g, p.SendCounts, p.SendOffsets, p.Scratch, p.ReceiveCounts, p.ReceiveOffsets);
                p.Stage = Stage.Exchanging;
            }
            else
            {
                p.Request = _comm.StartAllReduceSum(g, p.Length);
                p.Stage = Stage.Reducing;
            }
        }
        // Every rank must start its collectives in the same order, so the previous bucket's gather starts here, after
        // this bucket's exchange, on every rank alike (its exchange had a whole layer of backward time to complete).
        if (_ordered && _started >= 2) GatherBucket(_started - 2);
        _comm.Progress();                                          // MPI advances pending requests only inside MPI calls
    }

    /// <summary>Waits for bucket <paramref name="b"/>'s exchanges, adds its blocks and starts its all-gathers.</summary>
    private void GatherBucket(int b)
    {
        for (int i = 0; i < _plans[b].Length; i++)
        {
            ref var p = ref _plans[b][i];
            if (p.Stage != Stage.Exchanging) continue;
            _comm.Wait(p.Request, $"the gradient exchange of bucket '{_buckets[b].Name}'");
            SumAndGather(ref p);
        }
    }

    /// <summary>This rank's block = Σ over ranks in rank order of their copies of it, then the all-gather of the blocks.</summary>
    private void SumAndGather(ref Plan p)
    {
        int n = _comm.Size;
        var block = new Span<float>(_gradients + p.Offset + p.BlockStart, p.BlockLength);
        TensorPrimitives.Add(ReadBlock(p, 0), ReadBlock(p, 1), block);
        for (int j = 2; j < n; j++) TensorPrimitives.Add(block, ReadBlock(p, j), block);
        p.Request = _comm.StartAllGather(_gradients + p.Offset, p.GatherCounts, p.GatherOffsets);
        p.Stage = Stage.Reducing;
    }

    private static ReadOnlySpan<float> ReadBlock(in Plan p, int rank) => new(p.Scratch + (long)rank * p.ScratchStride, p.BlockLength);

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

    private enum Stage : byte { Idle, Exchanging, Reducing, Done }

    /// <summary>One range of a bucket: where it lies, and for the ordered reduction its blocks, scratch and state.</summary>
    private struct Plan
    {
        public long Offset, Length;
        public int* SendCounts, SendOffsets, ReceiveCounts, ReceiveOffsets, GatherCounts, GatherOffsets;
        public float* Scratch;
        public int ScratchStride, BlockStart, BlockLength;
        public CommRequest Request;
        public Stage Stage;
    }
}
