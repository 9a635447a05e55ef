import Testing
@testable import ShrinkTensor
@Test func smoke() { #expect(1 == 1) }
