using Qwen3Gen.Kernels;
using Qwen3Gen.Optim;
using Xunit.Abstractions;
using Qwen3Gen.Models;

namespace Qwen3Gen.Runtime.Tests.Optim;

/// <summary>
/// One AdamW step fed with the fixtures' stored gradients must land on the fixtures' <c>adamw.*</c>
/// (float64 torch reference, stored as float32) within the golden README's tolerance.
/// </summary>
public sealed class AdamWGoldenTests(ITestOutputHelper output)
{
    // shared/golden/README.md, "adamw.* (optimizer fed with grad.*)": |x − expected| ≤ atol + rtol·|expected|
    private const double Rtol = 1e-6, Atol = 1e-7;

    [Theory]
    [InlineData("dense-tied")]
    [InlineData("dense-untied")]
    [InlineData("moe")]
    [InlineData("moe-mixed")]
    [InlineData("dense-odd")]
    [InlineData("dense-long")]
    public unsafe void AdamWStep_MatchesGolden(string fixture)
    {
        string dir = TestSafeTensors.FixtureDirectory(fixture);
        var model = new TestSafeTensors(Path.Combine(dir, "model.safetensors"));
        var expected = new TestSafeTensors(Path.Combine(dir, "expected.safetensors"));

        // Flat layout in sorted-name order, with a 3-element gap between tensors so that offsets are not all
        // vector-aligned and tensor boundaries fall inside SIMD blocks.
        var tensors = new List<TensorSpec>();
        long offset = 0;
        foreach (var name in model.Names)
        {
            var spec = new TensorSpec(name, model.Shape(name), offset);
            tensors.Add(spec);
            offset += spec.Length + 3;
        }

        using var parameters = new NativeBuffer<float>(offset);
        using var gradients = new NativeBuffer<float>(offset);
        foreach (var t in tensors)
        {
            model.F32(t.Name).CopyTo(parameters.Slice(t.Offset, (int)t.Length));
            expected.F32("grad." + t.Name).CopyTo(gradients.Slice(t.Offset, (int)t.Length));
        }

        using var adamw = new AdamW(tensors, new AdamWOptions
        {
            LearningRate = 1e-3, Beta1 = 0.9, Beta2 = 0.95, Epsilon = 1e-8, WeightDecay = 0.1, // decay on ndim >= 2 (default)
        });
        adamw.Step(parameters, gradients);
        Assert.Equal(1, adamw.StepCount);

        var failures = new List<string>();
        foreach (var t in tensors)
        {
            var want = expected.F32("adamw." + t.Name);
            var got = parameters.Slice(t.Offset, (int)t.Length);
            double maxAbs = 0, maxRel = 0;
            int bad = 0;
            for (int i = 0; i < want.Length; i++)
            {
                double d = Math.Abs((double)got[i] - want[i]);
                maxAbs = Math.Max(maxAbs, d);
                if (want[i] != 0) maxRel = Math.Max(maxRel, d / Math.Abs(want[i]));
                if (!(d <= Atol + Rtol * Math.Abs(want[i]))) bad++;
            }
            output.WriteLine($"{t.Name,-50} {t.ShapeText,-14} decay={t.IsMatrix,-5} MaxAbsDiff={maxAbs:E2} MaxRelDiff={maxRel:E2}");
            if (bad > 0) failures.Add($"{t.Name}: {bad} of {want.Length} elements outside atol {Atol} + rtol {Rtol} (max abs diff {maxAbs:E2})");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
