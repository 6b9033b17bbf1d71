using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// A model whose context is as long as its RoPE tables can be (MaxPositions × HeadDim = int.MaxValue elements), with
/// 16 layers of 8 KV heads: a full context needs terabytes of KV cache, so contexts are limited by memory alone.
/// </summary>
[Qwen3Model(Vocab = 256, Hidden = 128, Layers = 16, Heads = 8, KvHeads = 8, HeadDim = 16, Ffn = 32,
            RopeTheta = 1e4, TieEmbeddings = true, MaxPositions = 134_217_727)]
public partial class LongContextTiny;

/// <summary>
/// Work buffers sized from run-time values (batch, sequence length, context, parallel slots, cache format) are
/// checked before anything is allocated: an extreme value is an ArgumentOutOfRangeException naming the call, the
/// value and the limit (rows of an int, bytes of free memory), never an OverflowException, a wrapped size or an
/// allocation the machine cannot hold.
/// </summary>
public class WorkBufferSizeTests
{
    [Theory]
    [InlineData(1, 1, false, false)]
    [InlineData(3, 17, false, false)]
    [InlineData(2, 64, true, false)]
    [InlineData(2, 64, true, true)]
    public void PlannedBytes_AreTheBytesReserveAllocates(int batch, int seqLen, bool training, bool checkpointing)
    {
        using var dense = TrainTiny.Create(WeightFormat.F32);
        dense.GradientCheckpointing = checkpointing;
        long? planned = dense.PlanWorkBufferBytes(batch, seqLen, training);
        Assert.Equal(0, dense.WorkBufferBytes);
        dense.Reserve(batch, seqLen, training);
        Assert.Equal(planned, dense.WorkBufferBytes);
        Assert.True(dense.WorkBufferBytes > (long)batch * seqLen * TrainTiny.Hidden * 4);      // at least the residual stream

        using var moe = TrainTinyMoe.Create(WeightFormat.F32);
        planned = moe.PlanWorkBufferBytes(batch, seqLen, training);
        moe.Reserve(batch, seqLen, training);
        Assert.Equal(planned, moe.WorkBufferBytes);
    }

    [Theory]
    [InlineData(int.MaxValue, 128)]                  // 2^31 × 128 rows
    [InlineData(1 << 25, 64)]                        // exactly 2^31 rows: one past the limit
    public void Reserve_PastTheRowLimit_NamesBatch_AndTheLimit_AndKeepsTheOldBuffers(int batch, int seqLen)
    {
        using var model = TrainTiny.Create(WeightFormat.F32);
        model.Reserve(2, 8, training: true);
        long before = model.WorkBufferBytes;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.Reserve(batch, seqLen, training: true));
        Assert.Equal("batch", e.ParamName);
        Assert.Contains($"Reserve(batch {batch}, seqLen {seqLen}, training)", e.Message);
        Assert.Contains($"{(long)batch * seqLen} token rows per call exceed the limit of {int.MaxValue}", e.Message);
        Assert.Equal(before, model.WorkBufferBytes);
        model.Forward(new int[16], new int[16], 2, 8);                                       // the old buffers still work
    }

    [Fact]
    public void Reserve_WithRowsThatFit_ButMoreBytesThanTheMachineHas_IsRefusedBeforeAllocating()
    {
        using var model = TrainTiny.Create(WeightFormat.F32);
        int batch = int.MaxValue / 128;                                                      // 2^31 − 1 rows at most: fits an int
        long available = MemoryBudget.AvailableBytes();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.Reserve(batch, 128, training: true));
        Assert.Equal("batch", e.ParamName);
        Assert.Contains("the work buffers need ", e.Message);
        Assert.Contains(" GB) of memory available", e.Message);
        Assert.Equal(0, model.WorkBufferBytes);
        Assert.True(model.PlanWorkBufferBytes(batch, 128, true) > available);
    }

    [Fact]
    public void Forward_WhoseBatchTimesSeqLenWrapsAnInt_IsAMismatch_NotAnEmptyCall()
    {
        using var model = TrainTiny.Create(WeightFormat.F32);
        // 2^26 × 64 = 2^32 wraps to 0 in int arithmetic, which "matched" an empty input before.
        var e = Assert.Throws<ArgumentException>(() => model.Forward([], [], 1 << 26, 64));
        Assert.Contains("0 input ids do not match batch 67108864 × seqLen 64", e.Message);
        Assert.Equal(0, model.WorkBufferBytes);
    }

    [Theory]
    [InlineData(KvCacheFormat.F32)]
    [InlineData(KvCacheFormat.Q8_0)]
    public void CreateSession_WithAContextPastTheMemory_NamesCapacity_AndTheLimit(KvCacheFormat format)
    {
        using var model = LongContextTiny.Create(WeightFormat.F32);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateSession(LongContextTiny.MaxPositions, cacheFormat: format));
        Assert.Equal("capacity", e.ParamName);
        Assert.Contains($"CreateSession(capacity {LongContextTiny.MaxPositions}, chunk 128, {format} cache)", e.Message);
        Assert.Contains(" GB) of memory available", e.Message);
        using var small = model.CreateSession(4096, cacheFormat: format);                  // a context the machine holds still works
        Assert.Equal(256, small.Prefill([1, 2, 3]).Length);
    }

    [Fact]
    public void CreateBatchSession_PastTheRowLimit_OrTheMemory_NamesSequences()
    {
        using var model = LongContextTiny.Create(WeightFormat.F32);
        var rows = Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateBatchSession(int.MaxValue, 128));
        Assert.Equal("sequences", rows.ParamName);
        Assert.Contains($"{(long)int.MaxValue * 64} token rows per call exceed the limit", rows.Message);

        var memory = Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateBatchSession(1000, LongContextTiny.MaxPositions));
        Assert.Equal("sequences", memory.ParamName);
        Assert.Contains(" GB) of memory available", memory.Message);
    }

    [Fact]
    public void Limits_NameTheRequest_TheValue_AndTheLimit()
    {
        var overflow = Assert.Throws<ArgumentOutOfRangeException>(() => WorkBufferLimits.Check(null, 10, "capacity", 7, "CreateSession(capacity 7)", availableBytes: 1000));
        Assert.Equal("CreateSession(capacity 7): the work buffers would need more bytes than a 64-bit size counts; the limit is the 1000 bytes of memory available. (Parameter 'capacity')\nActual value was 7.",
                     overflow.Message.ReplaceLineEndings("\n"));
        var bytes = Assert.Throws<ArgumentOutOfRangeException>(() => WorkBufferLimits.Check(1001, 10, "batch", 3, "Reserve(batch 3)", availableBytes: 1000));
        Assert.StartsWith("Reserve(batch 3): the work buffers need 1001 bytes (0.0 GB), more than the 1000 bytes (0.0 GB) of memory available.", bytes.Message);
        WorkBufferLimits.Check(1000, int.MaxValue, "batch", 3, "Reserve(batch 3)", availableBytes: 1000);  // at both limits: allowed
    }
}
