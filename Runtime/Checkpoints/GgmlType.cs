using Qwen3Gen.Kernels;

namespace Qwen3Gen.Checkpoints;

/// <summary>
/// GGML tensor type ids as GGUF files store them (<c>enum ggml_type</c> in llama.cpp's ggml.h). Only the ids
/// whose block layout Qwen3Gen implements are readable (<see cref="GgmlTypes.TryGetLayout"/>); the other names are
/// here so that an error can say which type a file holds.
/// </summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// <summary>Block layouts: a row of <c>ne[0]</c> elements is <c>ne[0] / BlockSize</c> blocks of <c>BlockBytes</c> bytes.</summary>
public static class GgmlTypes
{
    /// <summary>The types Qwen3Gen reads, dequantises and multiplies: what Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, F16 and BF16 files hold.</summary>
    public static IReadOnlyList<GgmlType> Supported { get; } =
        [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

    /// <summary>Elements per block and bytes per block of a supported type (ggml-common.h).</summary>
    public static bool TryGetLayout(GgmlType type, out int blockSize, out int blockBytes)
    {
        (blockSize, blockBytes) = type switch
        {
            GgmlType.F32 => (1, 4),
            GgmlType.F16 => (1, 2),
            GgmlType.BF16 => (1, 2),
            GgmlType.Q8_0 => (32, 34),    // fp16 d + 32 int8
            GgmlType.Q4_0 => (32, 18),    // fp16 d + 16 bytes of nibbles
            GgmlType.Q4_K => (256, 144),  // fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
            GgmlType.Q5_K => (256, 176),  // Q4_K + 32 bytes of fifth bits
            GgmlType.Q6_K => (256, 210),  // 128 low nibbles, 64 high pairs, 16 int8 scales, fp16 d
            _ => (0, 0),
        };
        return blockSize > 0;
    }

    public static int BlockSize(GgmlType type) =>
        TryGetLayout(type, out int size, out _) ? size : throw Unsupported(type);

    public static int BlockBytes(GgmlType type) =>
        TryGetLayout(type, out _, out int bytes) ? bytes : throw Unsupported(type);

    /// <summary>Bytes of one row of <paramref name="rowLength"/> elements (a multiple of the block size).</summary>
    public static long RowBytes(GgmlType type, long rowLength) => rowLength / BlockSize(type) * BlockBytes(type);

    /// <summary>"Q4_K (id 12)", or "unknown type id 77".</summary>
    public static string Describe(uint id) =>
        Enum.IsDefined(typeof(GgmlType), id) ? $"{(GgmlType)id} (id {id})" : $"unknown type id {id}";

    public static string SupportedText => string.Join(", ", Supported);

    private static NotSupportedException Unsupported(GgmlType type) =>
        new($"GGML type {Describe((uint)type)} is not supported; Qwen3Gen reads {SupportedText}.");
}
