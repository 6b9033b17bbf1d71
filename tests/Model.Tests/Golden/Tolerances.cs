namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Elementwise |x − expected| ≤ atol + rtol·|expected|, the suggested float32 tolerances of
/// tests/Fixtures/golden/README.md (measured float32 error of the reference: ≥ 18× inside them).
/// </summary>
public static class Tolerances
{
    public static readonly (double Rtol, double Atol) Logits = (1e-4, 1e-5);
    public static readonly (double Rtol, double Atol) Loss = (1e-5, 1e-6);
    public static readonly (double Rtol, double Atol) RouterLogits = (1e-4, 1e-5);
    public static readonly (double Rtol, double Atol) Grad = (1e-3, 1e-6);
    public static readonly (double Rtol, double Atol) AdamW = (1e-6, 1e-7);
    /// <summary>Intermediates (embedding, layer outputs, final norm, RoPE tables): as logits.</summary>
    public static readonly (double Rtol, double Atol) Activations = (1e-4, 1e-5);

    // tests/Fixtures/golden-gguf/README.md ("How to check, and tolerances").
    /// <summary>Float32 engine on dequantised GGUF weights: logits |x − e| ≤ 1e-4 + 1e-4·|e|.</summary>
    public static readonly (double Rtol, double Atol) GgufLogits = (1e-4, 1e-4);
    /// <summary>Float32 engine on dequantised GGUF weights: loss within 1e-5.</summary>
    public static readonly (double Rtol, double Atol) GgufLoss = (0, 1e-5);
    /// <summary>Int8-activation engine: normalised mean squared error of all logits vs the float64 truth.</summary>
    public const double GgufInt8Nmse = 5e-4;
    /// <summary>Int8-activation engine: loss within 2e-3.</summary>
    public const double GgufInt8Loss = 2e-3;
}
