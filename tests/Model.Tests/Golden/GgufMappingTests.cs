using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Xunit.Abstractions;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Quantised weights are not copied: every matrix handle of a .gguf loaded in its stored format points into the
/// memory-mapped file (the tensor's own bytes), and what the load allocates (native buffers and managed objects) does
/// not grow with the matrices: the fixture files differ by hundreds of kilobytes of blocks and their loads by a few
/// kilobytes (the metadata, tokenizer and norms are the same in every file, and are all a load allocates).
/// </summary>
public class GgufMappingTests(ITestOutputHelper output) : IClassFixture<TestCatalog>
{
    [Fact]
    public unsafe void QuantisedMatrices_PointIntoTheMappedFile_AndLoadingDoesNotCopyThem()
    {
        var measured = new List<(string Type, long File, long Native, long Managed)>();
        foreach (var type in new[] { "q4_k_m", "q6_k", "q8_0" })
        {
            string path = GgufGoldenTests.CaseFile($"model-{type}.gguf");
            long fileBytes = new FileInfo(path).Length;
            using (ModelDirectory.Load(path)) { }                   // first load: JIT and one-time tables out of the count

            long native0 = NativeMemoryStats.AllocatedOnThisThread;
            long managed0 = GC.GetAllocatedBytesForCurrentThread();
            using var loaded = ModelDirectory.Load(path);
            long native = NativeMemoryStats.AllocatedOnThisThread - native0;
            long managed = GC.GetAllocatedBytesForCurrentThread() - managed0;
            output.WriteLine($"{type}: file {fileBytes} bytes; load allocated {native} native + {managed} managed bytes");
            measured.Add((type, fileBytes, native, managed));

            var gguf = loaded.Gguf!;
            int matrices = 0;
            foreach (var t in loaded.Model.Tensors.Where(t => t.IsMatrix))
            {
                var name = GgufNames.ToGguf(t.Name)!.Value;
                var handle = loaded.Model.Weights.Matrix(t.Offset);
                Assert.True(handle.IsQuantized, $"{type}: {t.Name} is {handle.Format}");
                Assert.True(handle.Data == gguf.Data(gguf[name.Name]), $"{type}: {t.Name} does not point at the file's bytes of {name.Name}");
                matrices++;
            }
            Assert.Equal(15, matrices);                              // 7 per layer × 2 + the tied embedding
            Assert.True(native < fileBytes / 50, $"{type}: {native} native bytes allocated for a {fileBytes}-byte file");
        }
        // 356 KB more blocks (q8_0 vs q4_k_m) must not mean more than 2% of that in allocations.
        var (small, large) = (measured[0], measured[^1]);
        long moreFile = large.File - small.File;
        long moreAlloc = large.Native + large.Managed - small.Native - small.Managed;
        Assert.True(Math.Abs(moreAlloc) < moreFile / 50, $"{moreFile} more bytes of blocks cost {moreAlloc} more bytes of allocations");
    }
}
