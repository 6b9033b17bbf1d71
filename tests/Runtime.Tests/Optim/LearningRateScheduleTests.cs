using Qwen3Gen.Optim;

namespace Qwen3Gen.Runtime.Tests.Optim;

public sealed class LearningRateScheduleTests
{
    // nanoGPT get_lr with learning_rate 1e-3, min_lr 1e-4, warmup_iters 10, lr_decay_iters 110.
    private static readonly LearningRateSchedule Schedule = new(1e-3, 1e-4, 10, 110);

    [Theory]
    [InlineData(0, 1e-3 * 1 / 11)]        // warmup: lr·(it+1)/(warmup+1)
    [InlineData(4, 1e-3 * 5 / 11)]
    [InlineData(9, 1e-3 * 10 / 11)]
    [InlineData(10, 1e-3)]                // end of warmup: cos(0) = 1, the peak
    [InlineData(60, 5.5e-4)]              // half way: cos(π/2) = 0, (max + min) / 2
    [InlineData(35, 1e-4 + 0.5 * (1 + 0.70710678118654752) * 9e-4)] // quarter: cos(π/4)
    [InlineData(110, 1e-4)]               // floor
    [InlineData(5000, 1e-4)]              // past the decay: the floor
    public void LearningRateAt_KeyPoints_MatchNanoGptGetLr(long iteration, double expected)
    {
        Assert.Equal(expected, Schedule.At(iteration), 1e-15);
    }

    [Fact]
    public void LearningRate_AfterWarmup_NeverIncreases()
    {
        for (long it = 10; it < 200; it++) Assert.True(Schedule.At(it + 1) <= Schedule.At(it), $"lr rises at {it}");
    }

    [Fact]
    public void Schedule_BadArguments_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 2e-3, 0, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 1e-4, 20, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => Schedule.At(-1));
        Assert.Equal(3e-4, LearningRateSchedule.Constant(3e-4).At(12345));
    }
}
