/// The bare-metal support for running a harness on QEMU's `mps2-an386` (Arm MPS2 board with the
/// AN386 Cortex-M4 image): hand-written startup code and linker script, kept here as text so the
/// `shrink` binary carries them.
///
/// Memory map (QEMU `hw/arm/mps2.c`): 4 MiB ZBT SSRAM1 at 0x00000000 holds the vector table,
/// code and constants; 4 MiB SSRAM2/3 at 0x20000000 holds data, bss, the heap newlib's printf
/// needs, and the stack (at the top). QEMU loads the ELF's sections and starts from the vector
/// table at address 0. Output goes through semihosting (newlib's rdimon: `--specs=rdimon.specs`,
/// QEMU's `-semihosting`); `exit` ends QEMU through semihosting too. A fault lands in a handler
/// that spins forever, so QEMU is always run under a time limit.
public enum Board {
    /// The QEMU machine.
    public static let machine = "mps2-an386"

    /// Compiler flags for the board's CPU (soft-float ABI: the int8 path needs no FPU).
    public static let cpuFlags = ["-mcpu=cortex-m4", "-mthumb"]

    /// Linker flags: our startup code instead of crt0, newlib with semihosting.
    public static let linkFlags = ["-nostartfiles", "--specs=rdimon.specs", "-Wl,--gc-sections"]

    /// `startup.c`: the vector table, the reset handler (copy .data, zero .bss, open the
    /// semihosting handles, run `main`, exit with its status) and empty `_init`/`_fini`, which
    /// newlib's `__libc_init_array` calls and `-nostartfiles` leaves undefined.
    public static let startup = """
    /* Startup code for QEMU mps2-an386 (Cortex-M4), hand-written for Shrink's device tests. */
    #include <stdint.h>
    #include <stdlib.h>

    extern int main(void);
    extern void initialise_monitor_handles(void);

    /* Provided by the linker script. */
    extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;

    void Reset_Handler(void);
    void Fault_Handler(void);
    void _init(void);
    void _fini(void);

    void _init(void) {}
    void _fini(void) {}

    /* Any fault or unexpected interrupt spins here; the host's time limit ends QEMU. */
    void Fault_Handler(void)
    {
        for (;;) {
        }
    }

    /* Initial stack pointer, then the handlers: reset, NMI, HardFault, MemManage, BusFault,
       UsageFault, 4 reserved, SVCall, DebugMonitor, reserved, PendSV, SysTick. */
    __attribute__((section(".vectors"), used)) void (*const shrink_vectors[16])(void) = {
        (void (*)(void))&__stack_top__, Reset_Handler, Fault_Handler, Fault_Handler,
        Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0,
        Fault_Handler, Fault_Handler,
    };

    void Reset_Handler(void)
    {
        uint32_t *src = &__data_load__;
        uint32_t *dst = &__data_start__;
        while (dst < &__data_end__) {
            *dst++ = *src++;
        }
        for (dst = &__bss_start__; dst < &__bss_end__;) {
            *dst++ = 0;
        }
        initialise_monitor_handles();
        exit(main());
    }

    """

    /// `board.ld`: code and constants in SSRAM1, data/bss/heap/stack in SSRAM2/3.
    public static let linkerScript = """
    /* Linker script for QEMU mps2-an386 (Cortex-M4), hand-written for Shrink's device tests. */
    MEMORY
    {
        FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M
        RAM (rwx)  : ORIGIN = 0x20000000, LENGTH = 4M
    }

    ENTRY(Reset_Handler)

    SECTIONS
    {
        .text :
        {
            KEEP(*(.vectors))
            *(.text*)
            *(.rodata*)
            . = ALIGN(4);
        } > FLASH

        .ARM.exidx :
        {
            *(.ARM.exidx*)
        } > FLASH

        __data_load__ = LOADADDR(.data);
        .data :
        {
            . = ALIGN(4);
            __data_start__ = .;
            *(.data*)
            . = ALIGN(4);
            __data_end__ = .;
        } > RAM AT > FLASH

        .bss (NOLOAD) :
        {
            . = ALIGN(4);
            __bss_start__ = .;
            *(.bss*)
            *(COMMON)
            . = ALIGN(4);
            __bss_end__ = .;
        } > RAM

        /* newlib's sbrk grows the heap from `end` towards the stack. */
        . = ALIGN(8);
        end = .;
        __end__ = .;
        __stack_top__ = ORIGIN(RAM) + LENGTH(RAM);
    }

    """
}
