using Qwen3Gen.Generator.Tests.Infrastructure;
using Xunit.Sdk;

namespace Qwen3Gen.Generator.Tests;

/// <summary>The snapshot helper itself, on a temporary folder: pass, fail with a unified diff, accept.</summary>
public sealed class SnapshotAssertTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "qwen3gen-snapshots-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public void Mismatch_FailsWithUnifiedDiff_AndWritesReceivedFiles()
    {
        Directory.CreateDirectory(_folder);
        File.WriteAllText(Path.Combine(_folder, "A.verified.cs"), "line 1\nline 2\nline 3\n");

        var e = Assert.Throws<XunitException>(() => SnapshotAssert.MatchesIn(_folder, "A", "line 1\nline two\nline 3\n", update: false));

        Assert.Contains("-line 2", e.Message);
        Assert.Contains("+line two", e.Message);
        Assert.Contains("@@", e.Message);
        Assert.Equal("line 1\nline two\nline 3\n", File.ReadAllText(Path.Combine(_folder, "A.received.cs")));
        Assert.Contains("+line two", File.ReadAllText(Path.Combine(_folder, "A.received.diff")));
    }

    [Fact]
    public void Match_Passes_IgnoringLineEndings_AndCleansUp()
    {
        Directory.CreateDirectory(_folder);
        File.WriteAllText(Path.Combine(_folder, "B.verified.cs"), "x\r\ny\r\n");
        File.WriteAllText(Path.Combine(_folder, "B.received.cs"), "stale");

        SnapshotAssert.MatchesIn(_folder, "B", "x\ny\n", update: false);

        Assert.False(File.Exists(Path.Combine(_folder, "B.received.cs")));
    }

    [Fact]
    public void MissingVerified_Fails_ThenUpdateAccepts()
    {
        Assert.Throws<XunitException>(() => SnapshotAssert.MatchesIn(_folder, "C", "new\n", update: false));
        Assert.True(File.Exists(Path.Combine(_folder, "C.received.cs")));

        SnapshotAssert.MatchesIn(_folder, "C", "new\n", update: true);

        Assert.Equal("new\n", File.ReadAllText(Path.Combine(_folder, "C.verified.cs")));
        Assert.False(File.Exists(Path.Combine(_folder, "C.received.cs")));
        SnapshotAssert.MatchesIn(_folder, "C", "new\n", update: false);
    }
}
