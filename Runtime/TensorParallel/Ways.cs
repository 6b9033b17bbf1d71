namespace Qwen3Gen.TensorParallel;

/// <summary>
/// The number of tensor-parallel ranks as a type, so that a rank's sizes (<see cref="RankShape{S, W}"/>) are constants
/// the JIT folds into the layer loops, as the whole model's are. Qwen3 models have 4 or 8 KV heads, so 1, 2, 4 and 8
/// ways cover every split that keeps whole KV heads on a rank.
/// </summary>
public interface IWays
{
    static abstract int N { get; }
}

public readonly struct Ways1 : IWays { public static int N => 1; }

public readonly struct Ways2 : IWays { public static int N => 2; }

public readonly struct Ways4 : IWays { public static int N => 4; }

public readonly struct Ways8 : IWays { public static int N => 8; }
