using Qwen3Gen.Kernels;

namespace Qwen3Gen.Runtime.Tests.Kernels;

/// <summary>Proves that tests/run-isa-matrix.sh really runs the kernel tests on each vector path.</summary>
public class SimdLevelTests
{
    [Fact]
    public void SimdLevel_FollowsDotnetEnvironmentSwitches()
    {
        static bool Off(string name) => Environment.GetEnvironmentVariable(name) == "0";
        int level = SimdLevel.Current;
        if (Off("DOTNET_EnableHWIntrinsic")) Assert.Equal(SimdLevel.None, level);
        else if (Off("DOTNET_EnableAVX2")) Assert.True(level <= SimdLevel.V128, $"AVX2 off but kernels use {SimdLevel.Name}");
        else if (Off("DOTNET_EnableAVX512")) Assert.True(level <= SimdLevel.V256, $"AVX-512 off but kernels use {SimdLevel.Name}");
        Assert.Equal(Gemm.PanelWidth, level switch { SimdLevel.V512 => 32, SimdLevel.V256 => 16, SimdLevel.V128 => 8, _ => 2 });
    }
}
