using CnnCluster.Shared.Protocol;
using CnnCluster.Worker.Sharded;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>Slices that come before their replica: held in order for it, bounded in bytes, age and incarnations.</summary>
public sealed class EarlySlicesTests
{
    private static readonly DateTime T0 = new(2026, 12, 6, 12, 0, 0, DateTimeKind.Utc);

    private static SliceSum Sum(string run, long incarnation, int slice, int floats = 4) =>
        new(new StepRef(run, incarnation, 1, 1), slice, 0, new float[floats]);

    [Fact]
    public void ARunsSlicesAreGivenToItsReplicaInArrivalOrderAndOnlyOnce()
    {
        var early = new EarlySlices();
        early.Hold(new PeerSlice(Sum("a", 1, 0), "m1"), T0);
        early.Hold(new PeerSlice(Sum("b", 1, 0), "m1"), T0);
        early.Hold(new PeerSlice(Sum("a", 1, 1), "m1"), T0);
        Assert.Equal(3, early.Count);
        Assert.Equal(3 * 16, early.Bytes);

        Assert.Equal([0, 1], early.Take("a", 1, T0).Select(p => p.Message).Cast<SliceSum>().Select(s => s.Slice));
        Assert.Empty(early.Take("a", 1, T0));
        Assert.Equal(1, early.Count);
        Assert.Equal(16, early.Bytes);
    }

    [Fact]
    public void ANewerIncarnationDropsTheOlderOnesSlicesAndAnOlderOneIsNotHeld()
    {
        var early = new EarlySlices();
        early.Hold(new PeerSlice(Sum("a", 1, 0), "m1"), T0);
        early.Hold(new PeerSlice(Sum("a", 2, 0), "m1"), T0);
        early.Hold(new PeerSlice(Sum("a", 1, 1), "m1"), T0);
        Assert.Equal(1, early.Count);
        Assert.Empty(early.Take("a", 1, T0));
        Assert.Equal(0, early.Count); // taking a run drops its other incarnations too
    }

    [Fact]
    public void OldSlicesExpireAndTheOldestGoFirstWhenTheBytesAreSpent()
    {
        var early = new EarlySlices();
        early.Hold(new PeerSlice(Sum("a", 1, 0), "m1"), T0);
        early.Hold(new PeerSlice(Sum("b", 1, 0), "m1"), T0 + EarlySlices.MaxAge);
        Assert.Empty(early.Take("a", 1, T0 + EarlySlices.MaxAge + TimeSpan.FromSeconds(1)));
        Assert.Single(early.Take("b", 1, T0 + EarlySlices.MaxAge + TimeSpan.FromSeconds(1)));

        var small = new EarlySlices(maxBytes: 64);
        small.Hold(new PeerSlice(Sum("c", 1, 0, 8), "m1"), T0);
        small.Hold(new PeerSlice(Sum("c", 1, 1, 8), "m1"), T0);
        small.Hold(new PeerSlice(Sum("c", 1, 2, 1), "m1"), T0);
        Assert.Equal([1, 2], small.Take("c", 1, T0).Select(p => p.Message).Cast<SliceSum>().Select(s => s.Slice));
        small.Hold(new PeerSlice(Sum("d", 1, 0, 17), "m1"), T0); // larger than all: never held
        Assert.Equal(0, small.Count);
    }

    [Fact]
    public void AFloodOfSmallMessagesIsBoundedByCountTheOldestGoingFirst()
    {
        var early = new EarlySlices(maxCount: 3);
        for (int k = 0; k < 10; k++)
        {
            early.Hold(new PeerSlice(Sum("a", 1, k, floats: 0), "m1"), T0);
        }

        Assert.Equal(3, early.Count);
        Assert.Equal([7, 8, 9], early.Take("a", 1, T0).Select(p => p.Message).Cast<SliceSum>().Select(s => s.Slice));
    }

    [Fact]
    public void APlanTakesItsStepsAndOlderOnesAndLeavesLaterStepsForTheirPlans()
    {
        var early = new EarlySlices();
        SliceSum At(long step, int slice) => new(new StepRef("a", 1, 1, step), slice, 0, new float[4]);
        early.Hold(new PeerSlice(At(5, 0), "m1"), T0);
        early.Hold(new PeerSlice(At(6, 0), "m1"), T0);
        early.Hold(new PeerSlice(At(4, 1), "m1"), T0);
        early.Hold(new PeerSlice(At(5, 1), "m1"), T0);
        Assert.Equal([(5L, 0), (4L, 1), (5L, 1)], early.TakeUpTo(new StepRef("a", 1, 1, 5), T0).Select(p => p.Message).Cast<SliceSum>().Select(s => (s.Ref.Step, s.Slice)));
        Assert.Equal(1, early.Count);
        Assert.Equal([(6L, 0)], early.TakeUpTo(new StepRef("a", 1, 1, 6), T0).Select(p => p.Message).Cast<SliceSum>().Select(s => (s.Ref.Step, s.Slice)));
    }
}
